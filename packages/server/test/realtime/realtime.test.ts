import { memoryPglite } from '../helpers/databases.js';
import { realtimeSuite } from './realtime-suite.js';

realtimeSuite('PGlite', memoryPglite);
